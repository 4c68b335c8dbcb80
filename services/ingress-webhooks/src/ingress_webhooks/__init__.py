"""ingress-webhooks: verifies Meta's signatures and durably queues raw webhook deliveries."""
