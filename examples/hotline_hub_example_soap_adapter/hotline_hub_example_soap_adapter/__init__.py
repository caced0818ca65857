"""Example SOAP adapter: the hub's cases to a neighbouring province's 12345 platform (a fictional
cross-provincial exchange, 跨省通办), and the cases that platform transfers to the city back.
Built from docs/integrator-guide.md, section B, starting from docs/templates/soap_adapter/."""
