"""The CrossGuard policy pack; rules live in `policies.guardrails`."""
