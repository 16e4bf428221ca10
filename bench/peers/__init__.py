"""Reference implementations of the alternatives a user would pick instead of Parley."""
