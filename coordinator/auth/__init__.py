"""Sign-in, tokens and the keys derived from the coordinator's secret."""
