from dropout_guard.server import main

main()
