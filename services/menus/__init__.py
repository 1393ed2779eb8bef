"""The account menu: editors draft and publish the default and per-city conditional menus (admin, rules,
store); followers who move city get the right menu tag (city_tags, live)."""
