/* hubspot_fdw--0.1--0.2.sql */

\echo Use "ALTER EXTENSION hubspot_fdw UPDATE TO '0.2'" to load this file. \quit

