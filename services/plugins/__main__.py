from services.plugins.main import main

main()
