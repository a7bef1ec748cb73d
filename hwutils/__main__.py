from hwutils.batch.cli import main

raise SystemExit(main())
