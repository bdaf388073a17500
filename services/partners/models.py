"""Partners' tables, on its own metadata (its own database). The domain comes in its own issue."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class PartnersTable(SQLModel, registry=registry()):
    pass
