"""HTTP layer: middlewares for cross-cutting concerns and one routes module per API family."""
