"""Example adapter: the hub's cases to the Ziyang Water Group repair desk (a fictional REST
system), and the repair desk's assignments back to the hub. Built from docs/integrator-guide.md."""
