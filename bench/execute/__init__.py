"""Stage 2, execute: the planned runs trained through a launcher, cached and recorded."""
