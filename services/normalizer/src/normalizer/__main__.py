from normalizer.main import main

main()
