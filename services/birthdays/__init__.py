"""生日 birthday gifts: a policy per org, a monthly job granting `bday:<year>` entitlements once per
member and year (the org at grant time pays), within a budget that can never be exceeded."""
