"""Order execution: the order state machine, order handles, client order ids and the tracking-limit chaser."""
