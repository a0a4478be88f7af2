from services.estimator.main import main

main()
