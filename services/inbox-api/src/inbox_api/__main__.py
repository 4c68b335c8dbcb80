from inbox_api.main import main

main()
