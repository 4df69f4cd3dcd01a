"""Who publishes the data, and under which licence: Camtrap DP's package metadata.

From configuration (`TRACKER_PUBLISHER_*`, `TRACKER_LICENSE`), so another park or project
publishes under its own name without editing code. The defaults are the Land of the Leopard
National Park's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

# The licences GBIF accepts for occurrence data, by SPDX identifier.
LICENSES = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
}
# A Data Package name: lower case letters, digits and `-._/`.
PACKAGE_NAME_RE = re.compile(r"^[a-z0-9._/-]+$")
# Setting -> configuration key (the environment variable is TRACKER_ + the key).
CONFIG_KEYS = {
    "name": "PUBLISHER_NAME",
    "email": "PUBLISHER_EMAIL",
    "url": "PUBLISHER_URL",
    "package": "PUBLISHER_PACKAGE",
    "title": "PUBLISHER_TITLE",
    "project": "PUBLISHER_PROJECT",
    "acronym": "PUBLISHER_ACRONYM",
    "description": "PUBLISHER_DESCRIPTION",
    "license": "LICENSE",
}


@dataclass(frozen=True)
class Publisher:
    """The package's publisher (also its rights holder), licence, title and project."""

    name: str = "Land of the Leopard National Park"
    email: str = ""
    url: str = ""
    package: str = "amur-leopard-camera-traps"
    title: str = "Amur leopard camera traps, Land of the Leopard National Park"
    project: str = "Camera-trap monitoring of the Amur leopard"
    acronym: str = "LLNP"
    description: str = (
        "Camera traps along trails and ridges of the Land of the Leopard National Park "
        "(Primorsky Krai, Russia). Individual leopards are told apart by their rosette "
        "patterns; `individualID` is the park's code for the animal."
    )
    license: str = "CC-BY-NC-4.0"

    @classmethod
    def from_config(cls, config: Mapping) -> Publisher:
        keys = {f.name: CONFIG_KEYS[f.name] for f in fields(cls)}
        return cls(**{name: config[key] for name, key in keys.items() if key in config})

    def problems(self) -> dict[str, str]:
        """What is wrong with the settings, by configuration key (empty when all is well)."""
        found = {}
        if self.license not in LICENSES:
            found["LICENSE"] = f"one of {', '.join(LICENSES)} (the licences GBIF accepts)"
        if not PACKAGE_NAME_RE.match(self.package):
            found["PUBLISHER_PACKAGE"] = "lower case letters, digits and -._/"
        for key in ("name", "title", "project"):
            if not getattr(self, key).strip():
                found[CONFIG_KEYS[key]] = "not empty"
        return found

    def contributors(self) -> list[dict]:
        who = {"title": self.name}
        if self.email:
            who["email"] = self.email
        if self.url:
            who["path"] = self.url
        return [who | {"role": "rightsHolder"}, who | {"role": "publisher"}]

    def licenses(self) -> list[dict]:
        path = LICENSES[self.license]
        return [{"name": self.license, "path": path, "scope": scope} for scope in ("data", "media")]

    def project_metadata(self) -> dict:
        named = {"title": self.project, "acronym": self.acronym, "description": self.description}
        return {k: v for k, v in named.items() if v} | {
            # How the tracker records, whoever publishes.
            "samplingDesign": "targeted",
            "captureMethod": ["activityDetection"],
            "individualAnimals": True,
            "observationLevel": ["media", "event"],
        }
