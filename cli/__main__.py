"""`python -m neuralpatch` behaves exactly like the `neuralpatch` command."""

from neuralpatch.main import main

raise SystemExit(main())
