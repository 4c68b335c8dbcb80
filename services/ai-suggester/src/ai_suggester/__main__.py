from ai_suggester.main import main

main()
