from services.videobuilder.main import main

main()
