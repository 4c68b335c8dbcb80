from ingress_webhooks.main import main

main()
