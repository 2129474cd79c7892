from casebus.cli import main

raise SystemExit(main())
