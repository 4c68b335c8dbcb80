from tenant_router.main import main

main()
