from qakit_trio.cli import main

main()
