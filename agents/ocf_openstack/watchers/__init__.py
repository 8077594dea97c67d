"""Long-lived watchers and what they publish, beside the service engine.

``failure``         the failure watcher: a detached process per service instance that
                    tells Pacemaker at once of a death and within seconds of a hang; the
                    engine calls it through one face, ``failure.hooks``.
``database_watch``  ocf:openstack:database-watch, a clone that publishes whether this
                    controller reaches the database (node attribute).
``keys_watch``      ocf:openstack:keys-watch, a clone that publishes fingerprints of this
                    controller's Keystone keys and whether they agree with the issuers'.
``keyverdict``      the one-line verdict keys-watch leaves for Keystone's monitor.
``base``            what the two watcher agents share.

Watchers use ``checks``, ``ocf`` and ``host``; they never import the engine or a service
(the failure watcher loads the service's description by name, in its own process).
"""
