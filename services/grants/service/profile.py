"""The city profile every application reuses: the text blocks the OIA maintains, composed with the
city and the partnerships and networks the partners service holds."""

from __future__ import annotations

from sqlmodel import col, select

from services.grants import boilerplate
from services.grants.domain import Language
from services.grants.models import TextBlock
from services.grants.service import GrantsContext
from shared.audit import fields_of
from shared.problems import Problem
from shared.uow import UnitOfWork, utcnow


async def city_profile(uow: UnitOfWork, ctx: GrantsContext, language: Language) -> str:
    """The profile as Markdown. Partners is asked first, before the session takes a connection:
    none waits on the partners service."""
    partnerships = await ctx.partners.partnerships(ctx.home.name)
    networks = await ctx.partners.networks()
    blocks = list((await uow.session.exec(select(TextBlock).where(TextBlock.language == language))).all())
    return boilerplate.compose(language, ctx.home, blocks, partnerships, networks)


async def text_blocks(uow: UnitOfWork, language: Language | None) -> list[TextBlock]:
    query = select(TextBlock).order_by(col(TextBlock.language), col(TextBlock.position), col(TextBlock.key))
    if language:
        query = query.where(TextBlock.language == language)
    return list((await uow.session.exec(query)).all())


async def write_block(uow: UnitOfWork, key: str, language: Language, title: str, body: str,
                      position: int) -> TextBlock:
    """Writes the block of that key and language, new or anew."""
    block = (await uow.session.exec(select(TextBlock).where(TextBlock.key == key,
                                                            TextBlock.language == language))).first()
    before = None if block is None else fields_of(block)
    if block is None:
        block = TextBlock(key=key, language=language, title=title, body=body, position=position, updated_at=utcnow())
        uow.session.add(block)
    else:
        block.title, block.body, block.position, block.updated_at = title, body, position, utcnow()
    uow.audit("text_block", f"{key}.{language}", "written", before, fields_of(block))
    await uow.commit()
    return block


async def delete_block(uow: UnitOfWork, key: str, language: Language) -> None:
    block = (await uow.session.exec(select(TextBlock).where(TextBlock.key == key,
                                                            TextBlock.language == language))).first()
    if block is None:
        raise Problem(404, f"no {language} text block {key}")
    await uow.session.delete(block)
    uow.audit("text_block", f"{key}.{language}", "deleted", fields_of(block), None)
    await uow.commit()
