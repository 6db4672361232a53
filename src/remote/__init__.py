"""Remote storage: reproduce any commit from the remote, push the run-cache's outputs."""
