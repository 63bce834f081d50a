"""The HTTP gateway: the suite's only public door."""
