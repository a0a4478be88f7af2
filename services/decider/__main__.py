from services.decider.main import main

main()
