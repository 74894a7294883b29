"""System metrics: sampled platform metrics, per company for admins, across companies for super admins."""
