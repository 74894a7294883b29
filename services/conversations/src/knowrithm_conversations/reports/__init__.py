"""Reports over conversations: knowledge gaps and the conversations export."""
