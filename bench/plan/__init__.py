"""Stage 1, plan: experiments x profiles -> cells and hashed run configs."""
