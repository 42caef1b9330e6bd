from progsynth.cli import main

main()
