# Kernel settings for executing the book's notebooks (IPYTHONDIR points here in
# the Makefile and the test suite). ipykernel 7.4 logs "Kernel is running over
# TCP without encryption" on stderr at every start; it is noise, not a problem.
c = get_config()  # noqa: F821
c.IPKernelApp.log_level = "ERROR"
