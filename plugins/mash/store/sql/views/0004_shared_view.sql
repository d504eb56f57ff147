-- One recipient's shared view: the current publication, filtered by what tonight's decisions disclose to it.
-- The migration 0004 creates these three views for every recipient, replacing {recipient} with its name. A change
-- to a view is a new migration with a new file: this one is part of the history.
-- A recipient sees a child only where it may see the child's identity, and each other class only where decided.

CREATE VIEW {recipient}_shared_children AS
SELECT c.publication_id, c.child_id,
       CASE WHEN involvement.child_id IS NOT NULL THEN c.agencies END AS agencies,
       c.given_name, c.family_name, c.date_of_birth, c.sex, c.nhs_number,
       CASE WHEN address.child_id IS NOT NULL THEN c.postcode END AS postcode,
       CASE WHEN address.child_id IS NOT NULL THEN c.address END AS address,
       CASE WHEN upn.child_id IS NOT NULL THEN c.upn END AS upn
FROM shared_child c
JOIN publication p ON p.publication_id = c.publication_id AND p.is_current
JOIN shared_disclosure identity ON identity.publication_id = c.publication_id AND identity.child_id = c.child_id
     AND identity.recipient = '{recipient}' AND identity.data_class = 'identity'
LEFT JOIN shared_disclosure address ON address.publication_id = c.publication_id AND address.child_id = c.child_id
     AND address.recipient = '{recipient}' AND address.data_class = 'address'
LEFT JOIN shared_disclosure upn ON upn.publication_id = c.publication_id AND upn.child_id = c.child_id
     AND upn.recipient = '{recipient}' AND upn.data_class = 'education_identifier'
LEFT JOIN shared_disclosure involvement ON involvement.publication_id = c.publication_id
     AND involvement.child_id = c.child_id AND involvement.recipient = '{recipient}'
     AND involvement.data_class = 'involvement';

CREATE VIEW {recipient}_shared_involvement AS
SELECT i.publication_id, i.child_id, i.agency, i.organisation, i.practitioner_name, i.practitioner_role,
       i.practitioner_email, i.practitioner_phone, i.last_contact
FROM shared_involvement i
JOIN publication p ON p.publication_id = i.publication_id AND p.is_current
JOIN shared_disclosure d ON d.publication_id = i.publication_id AND d.child_id = i.child_id
     AND d.recipient = '{recipient}' AND d.data_class = 'involvement';

CREATE VIEW {recipient}_shared_chronology AS
SELECT e.publication_id, e.child_id, e.entry, e.event_date, e.end_date, e.is_open, e.agency, e.data_class, e.event,
       e.description
FROM shared_chronology e
JOIN publication p ON p.publication_id = e.publication_id AND p.is_current
JOIN shared_disclosure d ON d.publication_id = e.publication_id AND d.child_id = e.child_id
     AND d.recipient = '{recipient}' AND d.data_class = e.data_class;
