-- One recipient's involvement view, from migration 0011 (it replaces 0004's): an agency's last contact is the date
-- of its latest event for the child (a health contact, a police incident), and the health practitioner's role is
-- that of the latest health contact (an emergency department nurse says the child attended one). Both are shown
-- only where the recipient also gets that event's class for the child: involvement alone does not tell of events.

CREATE VIEW {recipient}_shared_involvement AS
SELECT i.publication_id, i.child_id, i.agency, i.organisation, i.practitioner_name,
       CASE WHEN i.agency <> 'health' OR events.child_id IS NOT NULL THEN i.practitioner_role END
           AS practitioner_role,
       i.practitioner_email, i.practitioner_phone,
       CASE WHEN events.child_id IS NOT NULL THEN i.last_contact END AS last_contact
FROM shared_involvement i
JOIN publication p ON p.publication_id = i.publication_id AND p.is_current
JOIN shared_disclosure d ON d.publication_id = i.publication_id AND d.child_id = i.child_id
     AND d.recipient = '{recipient}' AND d.data_class = 'involvement'
LEFT JOIN shared_disclosure events ON events.publication_id = i.publication_id AND events.child_id = i.child_id
     AND events.recipient = '{recipient}'
     AND events.data_class = CASE i.agency WHEN 'health' THEN 'health_events' WHEN 'police' THEN 'police_incidents' END;
