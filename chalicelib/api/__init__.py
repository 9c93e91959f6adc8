"""HTTP blueprints, one per audience: WeCom callbacks, tenant admins, SaaS ops, tracking beacons."""
