"""The product: access, agreements, cases, the sweep and the audit log. Knows nothing of Slack's SDKs."""
