"""The five-level org tree (province, city, county, township, enterprise) and who sees what along it
(store, visibility)."""
