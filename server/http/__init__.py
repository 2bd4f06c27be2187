"""HTTP layer: the request pipeline (one middleware running a stage per cross-cutting concern, a module each) and
one routes module per API family."""
