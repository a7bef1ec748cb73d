from hwutils.batch import main

raise SystemExit(main())
