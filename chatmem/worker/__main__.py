from chatmem.worker.process import main

main()
