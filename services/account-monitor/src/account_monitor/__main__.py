from account_monitor.main import main

main()
