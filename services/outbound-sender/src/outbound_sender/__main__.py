from outbound_sender.main import main

main()
