from admin.main import main

main()
