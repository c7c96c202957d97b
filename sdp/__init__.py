"""shopping-data-pipeline: the `sdp` command and the code shared by its parts."""
