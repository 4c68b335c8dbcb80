"""Continue with Facebook: connect channels through Meta's login (issue 20)."""
