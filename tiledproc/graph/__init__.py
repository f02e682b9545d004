"""Graph building: the halo exchange that gives every block of a windowed
operation its neighbours' edge pixels (:mod:`.overlap`). Nothing here runs a
graph (:mod:`tiledproc.execute`) or touches storage (:mod:`tiledproc.io`)."""
